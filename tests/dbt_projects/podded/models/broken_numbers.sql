-- Fails in the engine: the table it reads does not exist.
select id from podded_source_that_does_not_exist
