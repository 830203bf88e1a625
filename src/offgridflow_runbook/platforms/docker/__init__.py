"""The Docker driver and its model: the containers' specs (:mod:`.specs`), the API's revisions
(:mod:`.revisions`), the names and labels of the local stack (:mod:`.names`), each part's health
(:mod:`.health`). :mod:`.driver` holds :class:`DockerPlatform`; :mod:`.observe`, :mod:`.usage` and
:mod:`.rollout` are its reads and its rollout. The local environment builds on this model."""
