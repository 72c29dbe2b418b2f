"""The production shape (docker-compose.yml): the one-shot steps and checks its services run
from the app image, beside the config files of the official images they use."""
