// pause: the sandbox process of every pod in the offline kind node image (our own, not upstream's).

module offgridflow.local/tools/cluster/pause

go 1.24
