from django.db import migrations

# The PHI access log is evidence (HIPAA audit controls): the database itself refuses to change a
# row, and to delete one younger than six years (45 CFR 164.316(b)(2)), whoever asks.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION phi_access_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD."at" < now() - interval '6 years' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'The PHI access log is append-only: rows are never changed, and kept six years.'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER phi_access_append_only BEFORE UPDATE OR DELETE ON pharmacy_store_phiaccess
    FOR EACH ROW EXECUTE FUNCTION phi_access_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("pharmacy_store", "0001_initial")]

    operations = [migrations.RunSQL(
        APPEND_ONLY,
        "DROP TRIGGER IF EXISTS phi_access_append_only ON pharmacy_store_phiaccess; "
        "DROP FUNCTION IF EXISTS phi_access_append_only();",
    )]
