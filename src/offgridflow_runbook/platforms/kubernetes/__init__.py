"""The Kubernetes driver: :mod:`.driver` holds :class:`KubernetesPlatform`; :mod:`.client` is its
own API client (never the library's global default), :mod:`.config` the ConfigMap schemes,
:mod:`.database` the PostgreSQL StatefulSet, :mod:`.exec` ``kubectl exec``, and :mod:`.mapping` turns
API objects into the platform model."""
