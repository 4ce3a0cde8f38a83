package monitoring

import "path/filepath"

var repoRoot = filepath.Join("..", "..")
