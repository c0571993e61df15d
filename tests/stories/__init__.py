"""A few end-to-end stories: a webhook from the fake GitHub or Linear, the real worker, and what
lands back on the fakes."""
