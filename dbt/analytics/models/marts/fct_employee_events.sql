-- Incremental (merge on event_id): re-landed events update their row, never duplicate it.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
    )
}}

select
    e.event_id,
    e.employee_id,
    p.department,
    e.event_type,
    e.event_at,
    e._loaded_at,
    current_timestamp() as merged_at
from {{ ref('stg_employee_events') }} as e
join {{ ref('simple_pipeline') }} as p on p.id = e.employee_id
{% if is_incremental() %}
where e._loaded_at > (select coalesce(max(_loaded_at), timestamp'1970-01-01') from {{ this }})
{% endif %}
