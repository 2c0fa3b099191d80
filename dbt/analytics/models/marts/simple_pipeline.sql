-- The first version's model: several CTEs, one row per employee with a career stage.
with employees as (
    select * from {{ ref('stg_employees') }}
),

named as (
    select
        employee_id as id,
        concat(first_name, ' ', last_name) as full_name,
        email,
        department,
        age
    from employees
),

staged as (
    select
        *,
        case when age < 30 then 'Young Professional' else 'Mid-Career' end as career_stage
    from named
)

select id, full_name, email, department, age, career_stage
from staged
