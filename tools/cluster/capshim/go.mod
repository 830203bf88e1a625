module offgridflow.local/tools/cluster/capshim

go 1.24
