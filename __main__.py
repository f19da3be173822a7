from trustwatch.server.cli.main import main

raise SystemExit(main())
