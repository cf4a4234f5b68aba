// Package all enables every in-process module: importing it for its side
// effects registers each module listed in modules.Order. cmd/parley imports
// it; a build that wants fewer modules imports their packages one by one.
package all

import (
	_ "github.com/parley-im/parley/modules/blocking"
	_ "github.com/parley-im/parley/modules/caps"
	_ "github.com/parley-im/parley/modules/carbons"
	_ "github.com/parley-im/parley/modules/disco"
	_ "github.com/parley-im/parley/modules/offline"
	_ "github.com/parley-im/parley/modules/pep"
	_ "github.com/parley-im/parley/modules/ping"
	_ "github.com/parley-im/parley/modules/presence"
	_ "github.com/parley-im/parley/modules/private"
	_ "github.com/parley-im/parley/modules/register"
	_ "github.com/parley-im/parley/modules/roster"
	_ "github.com/parley-im/parley/modules/time"
	_ "github.com/parley-im/parley/modules/vcard"
	_ "github.com/parley-im/parley/modules/version"
)
