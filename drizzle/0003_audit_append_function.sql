-- Appends one audit row in a single statement: the chain lock, the read of the tail, the link hash and the
-- insert all run inside the server, so the lock is held for the insert and the commit only, never for a round
-- trip to a Node process whose event loop may be busy streaming. The caller hashes nothing that depends on the
-- tail: it passes the row and its canonical content (packages/db/src/audit/canonical.ts), and the link is
-- sha256(prev_hash || '\n' || content), the formula the verifier recomputes in Node.
-- The row is inserted whole from `entry`, so column defaults do not apply: a column added later must be filled
-- by the writer (packages/db/src/audit/writer.ts).
CREATE OR REPLACE FUNCTION phi_file_tracking_append(entry jsonb, content text) RETURNS phi_file_tracking
LANGUAGE plpgsql AS $$
DECLARE
  tail text;
  appended phi_file_tracking;
BEGIN
  -- One chain for the whole table: every writer, in every process, queues here before reading the tail.
  -- Each statement below takes a fresh snapshot, so the tail read sees the row of the writer before.
  PERFORM pg_advisory_xact_lock(hashtext('depot:phi_file_tracking'));
  SELECT t.row_hash INTO tail FROM phi_file_tracking t ORDER BY t.id DESC LIMIT 1;
  appended := jsonb_populate_record(NULL::phi_file_tracking, entry);
  appended.id := nextval(pg_get_serial_sequence('phi_file_tracking', 'id'));
  appended.metadata := coalesce(appended.metadata, '{}'::jsonb);
  appended.prev_hash := coalesce(tail, repeat('0', 64));
  appended.row_hash := encode(sha256(convert_to(appended.prev_hash || E'\n' || content, 'UTF8')), 'hex');
  INSERT INTO phi_file_tracking VALUES (appended.*);
  RETURN appended;
END;
$$;
