-- 0016_repository_names_arrival: a replayed or late event no longer puts a renamed repository
-- back under its old name.
--
-- Every event's `repository` object names the repository as it was when GitHub sent it; the
-- arrival (integration_events.arrival) of the payload that last set a row's owner, name,
-- full_name and url says which is newer: a payload that arrived before it leaves them alone.
-- A rename learnt from GitHub's redirect records the newest arrival stored by then. NULL:
-- written before this migration, or not by an event.
ALTER TABLE repositories ADD COLUMN names_arrival bigint;
