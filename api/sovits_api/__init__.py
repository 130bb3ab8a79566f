"""The REST facade: the seed training-service API over TrainingTasks."""
