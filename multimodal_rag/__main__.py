from multimodal_rag.cli import main

raise SystemExit(main())
