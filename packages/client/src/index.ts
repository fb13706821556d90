// Public API of @conclave/client: each module appends its export line below.
