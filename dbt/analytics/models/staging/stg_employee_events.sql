-- HR events from the raw landing table.
select
    cast(event_id as int) as event_id,
    cast(employee_id as int) as employee_id,
    lower(event_type) as event_type,
    cast(event_at as timestamp) as event_at,
    _loaded_at
from {{ source('raw', 'employee_events') }}
