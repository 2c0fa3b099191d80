-- A soft check (severity warn): employees past 33 get a retention review. Warns, never fails a run.
{{ config(severity='warn') }}
select id, full_name, age
from {{ ref('simple_pipeline') }}
where age > 33
