from .live import live_console, live_web  # noqa: F401 - the fixtures
from .pipkit import kit_site  # noqa: F401 - the fixture
