// Public API of @conclave/recipes: each module appends its export line below.
