from bot.staff.cli import main

raise SystemExit(main())
