-- Singular test: every row's career stage agrees with its age.
select id, age, career_stage
from {{ ref('simple_pipeline') }}
where (age < 30 and career_stage <> 'Young Professional')
   or (age >= 30 and career_stage <> 'Mid-Career')
