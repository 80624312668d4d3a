module example.com/execpkg

go 1.22
