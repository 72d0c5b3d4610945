"""An adapter's descriptor and grants, taken from the directory service.

>>> descriptor, grants = await from_directory("dukcapil.penduduk.v1", settings)  # doctest: +SKIP
>>> Adapter(descriptor, handlers, settings, grants=grants)                     # doctest: +SKIP
"""

from __future__ import annotations

from splp.adapters.grants import DirectoryGrants
from splp.bus.descriptor import ServiceDescriptor, parse_descriptor
from splp.bus.directory_cache import DirectoryCache
from splp.bus.names import ServiceRef
from splp.errors import ConfigurationError
from splp.settings import Settings


async def from_directory(
    service: ServiceRef | str, settings: Settings
) -> tuple[ServiceDescriptor, DirectoryGrants]:
    """The current descriptor of ``service`` and a source of its grants (not started yet)."""
    ref = service if isinstance(service, ServiceRef) else ServiceRef.parse(service)
    if settings.token is None:
        raise ConfigurationError("the directory needs the publisher's API token: set SPLP_TOKEN")
    cache = DirectoryCache(settings)
    try:
        data = await cache.get(f"/services/{ref}/descriptor")
        descriptor = parse_descriptor(data, f"descriptor of {ref} from {cache.url}")
    except BaseException:
        await cache.aclose()
        raise
    if descriptor.ref != ref:
        await cache.aclose()
        raise ConfigurationError(f"the directory answered {descriptor.ref} for {ref}")
    wants_key = descriptor.subject_field is not None
    return descriptor, DirectoryGrants(cache, ref, settings.grants_refresh, subject_key=wants_key)
