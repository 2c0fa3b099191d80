select 1 as entry_id, 1 as account_id
