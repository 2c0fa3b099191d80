-- Incremental (merge on n): a retry after a failure must leave every event exactly once.
{{ config(materialized='incremental', incremental_strategy='merge', unique_key='n') }}
select d.n, d.doubled, i.label
from {{ ref('watched_doubled') }} d
join {{ source('outside', 'watched_input') }} i on i.n = d.n
