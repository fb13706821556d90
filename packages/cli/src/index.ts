// Public API of @conclave/cli (the binary is src/bin.ts).
