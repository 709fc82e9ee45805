"""The reviewer web app: a server-rendered page where people approve, edit or reject held answers."""
