-- returns a string, not the workflow table
return "gang_lead"
