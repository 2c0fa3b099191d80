-- One row per employee with typed, trimmed columns.
select
    cast(id as int) as employee_id,
    trim(first_name) as first_name,
    trim(last_name) as last_name,
    lower(trim(email)) as email,
    trim(department) as department,
    cast(age as int) as age
from {{ ref('employees') }}
