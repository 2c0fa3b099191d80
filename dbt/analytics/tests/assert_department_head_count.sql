-- Every department has at least var('min_head_count', 1) people.
select department, head_count
from {{ ref('department_summary') }}
where head_count < {{ var('min_head_count', 1) }}
