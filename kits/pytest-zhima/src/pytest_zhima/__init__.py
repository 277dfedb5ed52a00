"""pytest-zhima: lease a phone number from a Zhima Console in a test and wait for its code."""

from .client import CodeTimeout, LeaseEnded, Number, ZhimaApi, ZhimaApiError

__all__ = ["CodeTimeout", "LeaseEnded", "Number", "ZhimaApi", "ZhimaApiError"]
__version__ = "0.2.0"
