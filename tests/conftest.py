"""Suite-wide settings: none. (The suite once left through os._exit to hide a crash at exit;
see ifnd.cli.entry for why that is no longer needed.)"""
