from .pipkit import kit_site  # noqa: F401 - the fixture
