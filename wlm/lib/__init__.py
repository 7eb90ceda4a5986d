"""Small plain helpers shared by the apps (clock, env, problem responses). Not an app."""
