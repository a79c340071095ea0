"""The proof: every row of both sides in one canonical form, order-independent checksums per table, the rows that
differ, the checks of what the copy's post-load promised, and the report (text, Markdown, JSON)."""
