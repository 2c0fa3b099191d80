select n, n * 2 as doubled from {{ ref('watched_numbers') }}
