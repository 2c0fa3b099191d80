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
        {{ shared_macros.career_stage('age') }} as career_stage
    from named
)

select id, full_name, email, department, age, career_stage
from staged
