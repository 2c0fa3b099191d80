-- Head count and average age per department.
select
    department,
    count(*) as head_count,
    round(avg(age), 1) as average_age,
    sum(case when career_stage = 'Young Professional' then 1 else 0 end) as young_professionals
from {{ ref('simple_pipeline') }}
group by department
