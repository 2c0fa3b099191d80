select count(*) as events, sum(doubled) as total from {{ ref('watched_events') }}
