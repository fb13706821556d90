// Public API of @conclave/server: each module appends its export line below.
