-- 0018_installation_arrival: a replayed or late installation event no longer undoes a newer one
-- of the same installation.updated_at.
--
-- GitHub leaves installation.updated_at alone on suspend, unsuspend and when repositories are
-- added or removed, so the stamp (last_event_at) cannot tell such events apart: a replay of a
-- suspend after the unsuspend suspended the installation again, and one of `added` after
-- `removed` brought the repository back. Of equal stamps, the payload that arrived later
-- (integration_events.arrival) now wins, as for pull requests, check runs and Linear issues.
-- NULL: written before this migration, or not by an installation event.
ALTER TABLE installations ADD COLUMN last_arrival bigint;
