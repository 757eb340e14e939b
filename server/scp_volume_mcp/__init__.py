"""scp-volume-mcp: grow Samsung Cloud Platform block-storage volumes safely from MCP clients."""

__version__ = "0.1.0"
