{#
  The load step ahead of dbt (stands in for an extract job): lands HR events in raw.employee_events.
  Re-landing merges on event_id and refreshes _loaded_at, so the source's freshness reflects the last load.
  Run: dbt run-operation load_raw_employee_events
#}
{% macro load_raw_employee_events() %}
  {#- adapter.execute without fetch: PyHive fails to fetch the empty result of DDL and MERGE. -#}
  {% do adapter.execute("create namespace if not exists raw") %}
  {% do adapter.execute("create table if not exists raw.employee_events (event_id int, employee_id int, event_type string, event_at timestamp, _loaded_at timestamp) using iceberg") %}
  {% set merge %}
    merge into raw.employee_events as t
    using (
      select event_id, employee_id, event_type, cast(event_at as timestamp) as event_at, current_timestamp() as _loaded_at
      from values
        (1, 1, 'hired', '2023-02-01 09:00:00'),
        (2, 2, 'hired', '2019-06-15 09:00:00'),
        (3, 3, 'hired', '2015-03-01 09:00:00'),
        (4, 4, 'hired', '2022-09-12 09:00:00'),
        (5, 5, 'hired', '2018-01-08 09:00:00'),
        (6, 2, 'promoted', '2023-04-01 09:00:00'),
        (7, 3, 'reviewed', '2024-12-15 09:00:00')
        as s(event_id, employee_id, event_type, event_at)
    ) as s
    on t.event_id = s.event_id
    when matched then update set *
    when not matched then insert *
  {% endset %}
  {% do adapter.execute(merge) %}
  {{ log("landed 7 events in raw.employee_events", info=True) }}
{% endmacro %}
