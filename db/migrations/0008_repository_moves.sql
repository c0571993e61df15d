-- 0008_repository_moves: an archived repository is kept apart (`repository` webhooks, archived and
-- unarchived): GitHub refuses writes to it, and nothing in it changes to look at.
ALTER TYPE repository_status ADD VALUE 'archived' AFTER 'suspended';
