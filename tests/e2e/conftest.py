from tests.kit.pipkit import kit_site  # noqa: F401 - the fixture

# The example is a QA engineer's test suite: it runs in its own pytest (test_example.py),
# with the plugin pip-installed, never as a part of this one.
collect_ignore = ["example"]
