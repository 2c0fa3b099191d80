-- Three rows, written after the engine slept (var sleep_ms, default 20 s) inside the query.
select id, java_method('java.lang.Thread', 'sleep', cast({{ var('sleep_ms', 20000) }} as bigint)) as slept
from range(3)
