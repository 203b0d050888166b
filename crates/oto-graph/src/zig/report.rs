//! Analysis reports (filled in by the report module).
