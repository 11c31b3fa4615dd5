-- One field of the audit export's CSV (RFC 4180), written by PostgreSQL: the export sends lines the database built,
-- so the web parses no row and builds no string per field (auditCsvPages, packages/db/src/queries/audit.ts).
-- NULL is the empty field. Text a spreadsheet would run as a formula (= + - @ tab CR first, OWASP "CSV injection")
-- gets a leading apostrophe; a field with a quote, comma, CR or LF is quoted, inner quotes doubled.
CREATE FUNCTION depot_csv_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
  WHEN value IS NULL THEN ''
  WHEN value ~ E'[",\r\n]' THEN '"' || replace(
    CASE WHEN left(value, 1) IN ('=', '+', '-', '@', E'\t', E'\r') THEN '''' || value ELSE value END, '"', '""'
  ) || '"'
  WHEN left(value, 1) IN ('=', '+', '-', '@', E'\t', E'\r') THEN '''' || value
  ELSE value
END;
