-- The branch that does not read watched_input: it succeeds whatever happens to the other.
select n, n * 3 as tripled from {{ ref('watched_numbers') }}
